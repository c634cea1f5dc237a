// The package's version is the contract's (openapi.yaml info.version): fails when they differ.
import { readFileSync } from "node:fs";

const contract = readFileSync(new URL("../../../openapi.yaml", import.meta.url), "utf8");
const version = /^info:\n(?:[ \t]+.*\n)*?[ \t]+version:[ \t]*['"]?([^'"\s]+)/m.exec(contract)?.[1];
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
if (!version || version !== pkg) {
  console.error(`package.json version ${pkg} differs from openapi.yaml info.version ${version}: set it to ${version}`);
  process.exit(1);
}
