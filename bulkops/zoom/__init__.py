"""Zoom's vocabulary: the call-handling schema, the routes an operation becomes, the HTTP client,
its token, and the view of one extension's settings as the GET shows them.

Knows HTTP and Zoom's shapes; knows nothing of job files, checkpoints or reports.
"""
