"""Running a model: the backends, the table that picks one, the worker thread and its batches."""
