// Runs before `npm start` and `npm test` (package.json "prestart"/"pretest"), on whatever
// Node the person has: plain CommonJS with nothing newer than ES5-era syntax, so an
// old Node prints this one line instead of failing deep inside with
// ERR_UNKNOWN_FILE_EXTENSION ".ts". (`npm ci` itself is stopped earlier by
// `engine-strict=true` in .npmrc and the "engines" field.)
"use strict";
var major = Number(process.versions.node.split(".")[0]);
if (!(major >= 24)) {
  process.stderr.write("chakrator: Node.js 24 or newer is needed (this is " + process.version + "): run `nvm install` in the repository (it reads .nvmrc), or install Node 24 another way, then `npm ci` again\n");
  process.exit(1);
}
