// Request limits under Deno (Deno.serve): the same cases as Node (deploy-limits-cases.ts). Deno has no header
// timeout setting; the app's body reader enforces --request_timeout on bodies.
import { limitTests } from './deploy-limits-cases.ts';

limitTests('deno');
