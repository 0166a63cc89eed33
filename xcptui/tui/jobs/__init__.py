"""Background work: engine calls in worker threads and their progress as messages."""
