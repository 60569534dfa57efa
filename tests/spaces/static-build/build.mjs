import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { marked } from "marked";

const body = marked.parse(readFileSync("content.md", "utf8"));
const facts = {
  node: process.version,
  uid: process.getuid(),
  space: process.env.SPACE_ID ?? null,
  port: process.env.PORT ?? null,
};
mkdirSync("dist", { recursive: true });
writeFileSync(
  "dist/index.html",
  `<!doctype html><html><head><script src="app.js"></script></head><body>${body}` +
    `<script type="application/json" id="facts">${JSON.stringify(facts)}</script></body></html>`,
);
writeFileSync("dist/app.js", "console.log('built');\n");
console.log("built dist/ with node", process.version);
