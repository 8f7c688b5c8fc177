#!/usr/bin/env node
// Plain JavaScript on purpose: this file must run (and explain itself) on any
// Node, before anything that needs Node 22 is loaded.
const REQUIRED = [22, 18]
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < REQUIRED[0] || (major === REQUIRED[0] && minor < REQUIRED[1])) {
  process.stderr.write(
    'pollen needs Node.js ' + REQUIRED.join('.') + ' or newer; this is Node.js ' + process.version + '.\n' +
    'From a clone, run it as `npm run pollen -- <args>`: npm puts the Node 22 that the project installs first on the PATH.\n'
  )
  process.exit(1)
}
const here = new URL('.', import.meta.url)
import('node:fs').then(function (fs) {
  const source = new URL('../src/cli/main.ts', here)
  const entry = fs.existsSync(source) ? source : new URL('../dist/cli/main.js', here)
  return import(entry.href)
}).then(function (cli) {
  return cli.main(process.argv.slice(2))
}).then(function (code) {
  process.exitCode = code
}, function (err) {
  process.stderr.write('pollen: ' + (err && err.stack ? err.stack : String(err)) + '\n')
  process.exitCode = 1
})
