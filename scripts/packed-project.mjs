// Used by the JS package tests (test/): the packed tarball installed into a blank project. It lives
// here, not in test/, because node --test runs every module under test/ as a test file.
import { after } from 'node:test';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The crate version, which the package carries. */
export const cargoVersion = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"/m)[1];

/**
 * A temp project (`type: module`) with `pkg/` packed and installed (offline: the package has no
 * dependencies); returns its directory, which is removed when the test file ends (kept with
 * TONYSTORE_KEEP_TMP=1, for a look at what the tests built).
 */
export function installPacked(prefix = 'tonystore-consumer-') {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (!process.env.TONYSTORE_KEEP_TMP) after(() => fs.rmSync(project, { recursive: true, force: true }));
  const tarball = execFileSync('npm', ['pack', path.join(root, 'pkg'), '--pack-destination', project, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(project, tarball)], { cwd: project, stdio: 'pipe' });
  return project;
}
