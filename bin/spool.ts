#!/usr/bin/env node
/** The `spool` command (see lib/cli/program.ts, or `spool --help`). */
import { run } from '../lib/cli/program.js';

process.exitCode = await run(process.argv.slice(2));
