// Node quickstart: loads the package's Node entry and shows a file-backed store directory.
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const tonystore = require('../pkg/node/tonystore.js');
const { NodeFsDir } = require('../pkg/node-fs.cjs');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-quickstart-'));
const file = new NodeFsDir(dir).open('level0.log');
file.write(0, new TextEncoder().encode('hello'));
file.flush();
console.log(`tonystore ${tonystore.version()} loaded in Node; wrote ${file.size()} bytes to ${dir}/level0.log`);
file.close();
