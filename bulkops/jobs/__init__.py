"""Stage 1 of the road: job files in, a plan of operations out. Nothing here sends a request.

Bottom to top (imports only go down):

intake.py     what a file must pass before it is parsed (regular, sized, a sane header)
parquet.py    Parquet read with the checks CSV cells get
xlsx.py       .xlsx read like CSV; other spreadsheets refused in one sentence
checks.py     one cell's formats (ids, E.164, dates, …), RowSpec and RowCheck, suggestions
specs.py      spec fields as columns (``Specs``): a RowSpec is made only when one is asked for
tables.py     read CSV/Parquet/.xlsx with every cell as text; write report files CSV-safely
hours.py      business hours in words ("Mon-Fri 08:00-18:00") and back
body.py       what every settings body is checked for (unused columns, unknown keys, lists)
custom_hours.py  the custom_hours body: Zoom's JSON, or the hours column turned into it
fields.py     Zoom's settings-body rules per sub_setting_type (fills in a RowSpec)
rules.py      one row as a whole: columns, the extension reference, sub_setting_type
columns.py    the common rows checked once per column; the rest go the per-row way
jobfile.py    the job-file format (its docstring) and ``load``: every row checked
directory.py  the directory file, selectors, and resolving each row's extension reference
zones.py      naive and date-only times read in each extension's own zone
kinds.py      what each extension type may be given (Zoom's spec prose), checked with a directory
conflicts.py  duplicates and contradictions per extension
sync.py       sync jobs: the flags, the rows a sync takes, one extension's convergence
expand.py     rows × extensions → the plan frame, vectorised, with each operation's id
plan.py       ``build_plan`` / ``validate``: the plan checked as a whole; its summary and --out
calendar.py   a country's holidays as job rows (``bulkops holidays``)
templates.py  the example jobs ``bulkops init`` writes

Words: a row names its extensions by one *reference* (``ExtensionRef``: an extension_id,
extension_number, email, or a *selector* in the ``target`` column); ``directory.resolve`` turns
the references into a ``Resolution`` (row × extension pairs) that the planner expands.
"""
