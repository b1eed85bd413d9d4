#!/usr/bin/env node
// The CLI entry point; the TypeScript sources are compiled to dist/ by `npm install` (prepare).
import '../dist/lib/cli/main.js';
