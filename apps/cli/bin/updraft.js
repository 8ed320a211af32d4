#!/usr/bin/env node
// The CLI is TypeScript run directly by Node 24 (type stripping); see README.
import '../src/main.ts';
