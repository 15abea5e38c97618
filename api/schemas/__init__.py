"""The marshmallow schemas of requests and answers, per resource, and the
OpenAPI document built from them."""
