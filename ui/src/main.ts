/**
 * The browser entry point: defines the custom elements (each file registers its own
 * tag on import); index.html holds the <chk-app> element and the theme variables.
 */
import "./components/chk-app.ts";
