Redoc.init("/openapi.json", {
  hideDownloadButton: false,
  expandResponses: "200,201",
  theme: { typography: { fontFamily: "Roboto, sans-serif", headings: { fontFamily: "Montserrat, sans-serif" } } }
}, document.getElementById("redoc"));

// The service names its interactive console in a meta tag when it is switched on.
const consolePage = document.querySelector('meta[name="todo-api-console"]');
if (consolePage) {
  const link = document.createElement("a");
  link.className = "console-link";
  link.href = consolePage.content;
  link.textContent = "Try it out: the console \u2192";
  document.body.append(link);
}
