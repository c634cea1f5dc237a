// Swagger UI over this service's own contract. The page's Content-Security-Policy forbids inline
// script, so this file starts it. Nothing here may reach another origin: no validator badge
// (validatorUrl: null), no spec URL taken from the query string (queryConfigEnabled: false).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  layout: "BaseLayout",
  validatorUrl: null,
  queryConfigEnabled: false,
  persistAuthorization: true,
  deepLinking: true,
  displayOperationId: true,
  displayRequestDuration: true,
});
