#!/usr/bin/env node
// protomesh-passwd: adds, replaces or deletes a user in a Protomesh password file (the file
// MQTT_PASSWORD_FILE points at), like mosquitto_passwd. New hashes use our scrypt format; other
// lines (including Mosquitto $6$ / $7$ ones) are kept as they are. Needs a build (`tsc -b`).
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { hashPassword, setPasswordEntry } from '@protomesh/auth';

const USAGE = `usage: protomesh-passwd [-c] <file> <username>          (password from stdin, prompted on a terminal)
       protomesh-passwd [-c] -b <file> <username> <password>
       protomesh-passwd -D <file> <username>
  -c  start a new file (overwrites an existing one)
  -b  batch mode: the password is the last argument (visible in shell history)
  -D  delete the user`;

/** New files hold hashes only their owner should read. */
const FILE_MODE = 0o600;

function fail(message, code = 1) {
  process.stderr.write(`protomesh-passwd: ${message}\n`);
  process.exit(code);
}

/** Reads a password on a terminal without echoing it. */
function promptHidden(question) {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    let value = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          reject(new Error('interrupted'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The password from stdin: prompted twice on a terminal, else the first line of the input. */
async function readPassword() {
  if (process.stdin.isTTY) {
    const first = await promptHidden('Password: ');
    const second = await promptHidden('Reenter password: ');
    if (first !== second) fail('passwords do not match');
    return first;
  }
  let input = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) input += chunk;
  return input.split(/\r?\n/)[0];
}

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
// Options come first (so a batch password may start with "-").
const flags = new Set();
let first = 0;
for (; first < args.length && args[first].startsWith('-') && args[first] !== '-'; first++) {
  if (!/^-[bcD]$/.test(args[first])) fail(`unknown option ${args[first]}\n${USAGE}`, 2);
  flags.add(args[first]);
}
const rest = args.slice(first);
const batch = flags.has('-b');
const remove = flags.has('-D');
if (rest.length !== (batch ? 3 : 2) || (batch && remove) || (remove && flags.has('-c'))) fail(USAGE, 2);
const [file, username, batchPassword] = rest;

try {
  let text = '';
  let mode = FILE_MODE;
  if (!flags.has('-c')) {
    try {
      text = await readFile(file, 'utf8');
      mode = (await stat(file)).mode & 0o777;
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
      if (remove) fail(`${file} does not exist`);
    }
  }
  let hash;
  if (!remove) {
    const password = batch ? batchPassword : await readPassword();
    if (password === undefined || password.length === 0) fail('empty password');
    hash = await hashPassword(password);
  }
  const next = setPasswordEntry(text, username, hash);
  // Write beside the file and rename, so a crash never leaves a half-written password file.
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, next, { mode });
  await chmod(temp, mode);
  await rename(temp, file);
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
