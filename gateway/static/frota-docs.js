// /api/docs's initializer: a file of its own, because DOCS_CSP allows no inline script.
SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#docs" });
