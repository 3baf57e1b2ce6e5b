import { resolve } from 'node:path';
import { AppError, eventTypeProblem, isAppError } from '@33god/core';
import { createAjv, toViolations } from '../schema/ajv.js';
import { eventFiles } from '../schema/events.js';
import { absolutizeRefs, duplicateIds, loadSchemaTree } from '../schema/registry.js';
import { pathEventType, pathVersion, readTreeFiles, SchemaTree, walkSchema } from '../schema/tree.js';

export interface LintFinding {
  readonly file: string;
  readonly rule: string;
  readonly message: string;
}

/**
 * Actions accepted although not past tense. The seed names two state reports this way
 * (`bloodbank.health.status`, `bloodbank.message.dlq`); anything else should say what happened.
 */
export const PAST_TENSE_ALLOWLIST: readonly string[] = ['status', 'dlq'];

/** Past participles that do not end in -ed. */
const IRREGULAR = new Set(
  (
    'begun bent bound broken brought built bought caught chosen cut dealt done drawn driven eaten fallen fed felt ' +
    'found forgotten frozen given gone grown held hidden hit hung hurt kept known laid led left lent let lost made ' +
    'meant met paid put quit read rebuilt reset rerun risen run said sent set shown shut sold spent split spoken ' +
    'spread stolen struck stuck swept taken taught thought thrown told undone understood upset withdrawn won written ' +
    'overridden rewritten'
  ).split(' '),
);

export function isPastTense(action: string): boolean {
  const last = action.split(/[_-]/).pop() ?? action;
  return PAST_TENSE_ALLOWLIST.includes(action) || last.endsWith('ed') || IRREGULAR.has(last);
}

export interface LintOptions {
  readonly discriminator?: string;
}

/** Every finding of the lint rules (docs/holyfields.md); an empty list means the tree is clean. */
export async function lintTree(dir: string, options: LintOptions = {}): Promise<LintFinding[]> {
  const disc = options.discriminator ?? 'event_type';
  const findings: LintFinding[] = [];
  const add = (file: string, rule: string, message: string) => findings.push({ file, rule, message });
  const { files, problems } = await readTreeFiles(dir);
  for (const p of problems) add(p.file, p.code === 'SCHEMA_PARSE_ERROR' ? 'json' : 'read', p.message);
  const tree = new SchemaTree(resolve(dir), files);
  for (const p of duplicateIds(files)) add(p.file, 'id-unique', p.message);
  const refProblems = tree.refProblems();
  for (const p of refProblems)
    add(p.file, p.code === 'SCHEMA_REF_CIRCULAR' ? 'ref-circular' : 'ref', p.message);

  for (const f of tree.sortedFiles()) {
    if (f.declaredId === undefined) add(f.rel, 'id', 'has no $id');
    else if (!f.declaredId.replace(/#$/, '').endsWith(`/${f.rel}`)) {
      add(f.rel, 'id', `$id '${f.declaredId}' does not end with the file's path '${f.rel}'`);
    }
    if (f.rel.split('/').every((p) => !p.startsWith('_')) && pathVersion(f.rel) === undefined) {
      add(f.rel, 'file-name', 'file name must end with .v<N>.json');
    }
  }

  const { events, problems: evProblems } = eventFiles(tree, disc);
  for (const p of evProblems) add(p.file, 'event-type', p.message);
  for (const ev of events) {
    const rel = ev.file.rel;
    const folder = rel.split('/').slice(0, -1).join('.');
    for (const t of ev.types) {
      const problem = eventTypeProblem(t);
      if (problem) add(rel, 'type-name', `event type '${t}' ${problem}`);
      const action = t.split('.').pop() ?? t;
      if (!isPastTense(action)) {
        add(
          rel,
          'past-tense',
          `event type '${t}': action '${action}' is not past tense (allowlist: ${PAST_TENSE_ALLOWLIST.join(', ')})`,
        );
      }
    }
    const all = [...ev.types, ...ev.patterns];
    if (all.length === 1 && ev.patterns.length === 0) {
      if (pathEventType(rel) !== all[0]) {
        add(
          rel,
          'file-name',
          `file name says '${pathEventType(rel)}' but the schema's event type is '${all[0]}'`,
        );
      }
    } else {
      for (const t of all) {
        if (folder !== '' && !t.startsWith(`${folder}.`)) {
          add(rel, 'file-name', `event type '${t}' does not start with the folder's domain '${folder}'`);
        }
      }
    }
  }

  // Duplicate event types and schemas Ajv rejects, as loadSchemaTree reports them.
  if (problems.length === 0 && refProblems.length === 0 && evProblems.length === 0) {
    try {
      await loadSchemaTree(dir, { discriminator: disc });
    } catch (err) {
      if (!isAppError(err)) throw err;
      add(
        String(err.extra.file ?? dir),
        err.code === 'SCHEMA_DUPLICATE_TYPE' ? 'type-unique' : 'schema',
        err.detail ?? err.message,
      );
    }
    findings.push(...exampleFindings(tree));
  }
  return findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** Every `examples` entry, at any depth, must validate against the schema it sits in. */
function exampleFindings(tree: SchemaTree): LintFinding[] {
  const ajv = createAjv();
  const out: LintFinding[] = [];
  for (const f of tree.sortedFiles()) {
    try {
      ajv.addSchema(absolutizeRefs(tree, f));
    } catch (err) {
      if (err instanceof AppError)
        return [{ file: String(err.extra.file), rule: 'schema', message: err.message }];
      // loadSchemaTree reported this file already (rule `schema`); examples are not checked.
      return [];
    }
  }
  for (const f of tree.sortedFiles()) {
    walkSchema(f.json, (node, pointer) => {
      if (!Array.isArray(node.examples)) return;
      let validate: ReturnType<typeof ajv.compile>;
      try {
        validate = ajv.compile({ $ref: `${f.id}#${encodeURI(pointer)}` });
      } catch (err) {
        out.push({ file: f.rel, rule: 'schema', message: err instanceof Error ? err.message : String(err) });
        return;
      }
      node.examples.forEach((ex, i) => {
        if (validate(ex)) return;
        const v = toViolations(validate.errors)
          .map((x) => `${x.pointer || '/'} ${x.message}`)
          .join('; ');
        out.push({ file: f.rel, rule: 'examples', message: `#${pointer}/examples/${i} is invalid: ${v}` });
      });
    });
  }
  return out;
}
