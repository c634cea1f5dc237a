Redoc.init("/openapi.json", {
  hideDownloadButton: false,
  expandResponses: "200,201",
  theme: { typography: { fontFamily: "Roboto, sans-serif", headings: { fontFamily: "Montserrat, sans-serif" } } }
}, document.getElementById("redoc"));
