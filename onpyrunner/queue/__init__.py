"""Job queue and store: one interface, an in-memory and a Redis implementation."""
