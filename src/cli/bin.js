#!/usr/bin/env node
// The `meridian` executable from a source checkout: registers tsx so the TypeScript sources run
// without a build step, then hands over to main.ts (which parses argv and sets the exit code).
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
