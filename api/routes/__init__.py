"""One blueprint per resource of the JSON API: each view loads the request
with a schema, calls the core once and dumps the answer."""
