"""The last stage: results, summary, failures, undo and the HTML page, read from the checkpoint."""
