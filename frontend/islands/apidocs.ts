// The API documentation page: Swagger UI (from the app's own static files, loaded by a
// plain <script> before this one) pointed at our OpenAPI document. No inline script, so
// the page works under the site's Content-Security-Policy.
type SwaggerOptions = { url: string; dom_id: string; deepLinking: boolean; tryItOutEnabled: boolean };

declare global {
  interface Window {
    SwaggerUIBundle?: (options: SwaggerOptions) => unknown;
  }
}

const root = document.getElementById("swagger-ui");
if (root && window.SwaggerUIBundle) {
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl ?? "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
  });
}

export {};
