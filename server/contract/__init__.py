"""The contract machinery a handler author never touches: openapi.yaml loaded, compiled
validation plans, the openapi-core fallback, one trip through a request, the reply."""
