import * as fs from 'node:fs';
import * as path from 'node:path';

export const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures');
export const FIXTURES = fs.readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.safetensors')).sort();
export const fixturePath = (name: string) => path.join(FIXTURE_DIR, name);
