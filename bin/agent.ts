/** `npm start`: the agent, configured by SPOOL_* variables (see the README). */
import { serveFromEnvironment } from '../lib/cli/serve.js';

await serveFromEnvironment();
