"""The HTTP API: app factory and lifespan, routes per resource, schemas, error mapping."""
