import type { Violation } from '@33god/core';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json' with { type: 'json' };
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json' with { type: 'json' };
import * as formatsModule from 'ajv-formats';
import { escapePointer } from './pointer.js';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
// ajv-formats is CommonJS with a default export; under NodeNext the namespace holds it as `default`.
const addFormats: AddFormats =
  ((formatsModule as unknown as { default?: AddFormats }).default as AddFormats | undefined) ??
  (formatsModule as unknown as AddFormats);

/** Annotation keywords of Holyfields trees (see docs/holyfields.md). */
export const HOLYFIELDS_KEYWORDS = ['x-event-type'] as const;

/**
 * The Ajv every part of Holyfields uses: draft 2020-12, every error, formats. `ownProperties`:
 * a member named `constructor` or `toString` is checked only when the instance has it, not
 * found on `Object.prototype`.
 */
export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true, ownProperties: true });
  addFormats(ajv);
  // Trees that declare draft-07 or draft-06 in `$schema` load; their keywords keep their 2020-12
  // meaning, and array-form `items` (a draft-07 tuple) is refused by Ajv naming the file.
  ajv.addMetaSchema(draft07);
  ajv.addMetaSchema(draft06);
  for (const k of HOLYFIELDS_KEYWORDS) ajv.addKeyword({ keyword: k, schemaType: ['string', 'array'] });
  return ajv;
}

/**
 * Ajv errors as violations. The pointer names the offending member itself: for a missing
 * required property or an unexpected additional one, the property's own pointer.
 */
export function toViolations(errors: readonly ErrorObject[] | null | undefined, prefix = ''): Violation[] {
  if (!errors) return [];
  const out: Violation[] = [];
  for (const e of errors) {
    let pointer = prefix + e.instancePath;
    const params = e.params as Record<string, unknown>;
    // A bad property name: Ajv reports the inner failure (with `propertyName` on the error) and
    // then a wrapper "property name must be valid"; the inner one, at the name's own pointer, says why.
    const badName = (e as { propertyName?: unknown }).propertyName;
    if (
      e.keyword === 'propertyNames' &&
      errors.some((x) => (x as { propertyName?: unknown }).propertyName === params.propertyName)
    )
      continue;
    if (typeof badName === 'string') {
      out.push({
        pointer: `${pointer}/${escapePointer(badName)}`,
        message: `is not a valid name: ${e.message ?? e.keyword}`,
        keyword: e.keyword,
      });
      continue;
    }
    if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
      pointer += `/${escapePointer(params.missingProperty)}`;
    } else if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      pointer += `/${escapePointer(params.additionalProperty)}`;
    }
    let message = e.message ?? e.keyword;
    if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      message += `: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (e.keyword === 'const') {
      message += `: ${JSON.stringify(params.allowedValue)}`;
    } else if (e.keyword === 'additionalProperties') {
      message = `unexpected property '${String(params.additionalProperty)}'`;
    } else if (e.keyword === 'required') {
      message = `is required`;
    }
    out.push({ pointer, message, keyword: e.keyword });
  }
  return out;
}
