#!/usr/bin/env node
// The `meridian` command run straight from the TypeScript sources of a checkout (tests, and
// `node src/cli/bin.js …` while developing): registers tsx, which is a devDependency, then hands over
// to main.ts. The installed package's bin is the compiled dist/cli/main.js, which needs no tsx.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
