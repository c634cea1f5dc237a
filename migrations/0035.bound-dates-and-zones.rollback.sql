-- Nothing to undo: the values 0035 replaced could not be used.
SELECT 1;
