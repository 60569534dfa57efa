import { mkdirSync, writeFileSync } from "node:fs";

mkdirSync("dist/assets", { recursive: true });
writeFileSync("dist/index.html", '<!doctype html><script src="/assets/app.js"></script><p>static-build ok</p>\n');
writeFileSync("dist/assets/app.js", "console.log('static-build js ok');\n");
