"""Real-time documents (whiteboard, screen annotation, and types other packages
register): Yjs on the wire, pycrdt on the server, an append log with snapshots in SQL."""
