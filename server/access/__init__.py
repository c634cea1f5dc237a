"""Access: who a request speaks for (its token), and whether that caller may act."""
