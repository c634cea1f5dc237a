// The package's version is the contract's (openapi.yaml info.version). Without arguments: fails
// when they differ. With --write (run by `npm run generate` after a contract change): sets it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const contract = readFileSync(new URL("../../../openapi.yaml", import.meta.url), "utf8");
const version = /^info:\n(?:[ \t]+.*\n)*?[ \t]+version:[ \t]*['"]?([^'"\s]+)/m.exec(contract)?.[1];
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
if (!version) {
  console.error("openapi.yaml has no info.version");
  process.exit(1);
}
if (version !== pkg) {
  if (process.argv.includes("--write")) {
    execFileSync("npm", ["version", version, "--no-git-tag-version", "--allow-same-version"], { stdio: "ignore" });
    console.log(`package.json version ${pkg} -> ${version} (the contract's)`);
  } else {
    console.error(`package.json version ${pkg} differs from openapi.yaml info.version ${version}: run 'npm run generate'`);
    process.exit(1);
  }
}
