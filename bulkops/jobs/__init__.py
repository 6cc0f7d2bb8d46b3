"""Stage 1 of the road: job files in, a plan of operations out.

Reading tables (CSV/Parquet), the row rules and Zoom's field rules, the directory and its
selectors, the planner and the conflict finder. Nothing here sends a request.
"""
