/** JSON schemas of the element data routes: validation, fast serialisation and the OpenAPI document. */

const id = { type: 'integer', minimum: 0, maximum: 2147483647 } as const;

/** A cell or saved parameter value: a number, a string, or null (no value). */
const value = { type: ['number', 'string', 'null'], description: 'a number, a string, or null' } as const;

export const elementParams = {
  type: 'object',
  additionalProperties: false,
  required: ['dmaId', 'elementId'],
  properties: {
    dmaId: { ...id, description: 'DataMiner Agent id where the element was created' },
    elementId: id,
  },
} as const;

export const tableParams = {
  type: 'object',
  additionalProperties: false,
  required: ['dmaId', 'elementId', 'tableParameterId'],
  properties: { ...elementParams.properties, tableParameterId: { ...id, description: 'parameter id of the table' } },
} as const;

export function tableRowsQuery(defaultPageSize: number, maxPageSize: number) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      prefix: {
        type: 'string',
        maxLength: 768,
        description: 'only rows whose primary key starts with this text (every character matches itself)',
      },
      limit: { type: 'integer', minimum: 1, maximum: maxPageSize, default: defaultPageSize, description: 'rows per page' },
      cursor: { type: 'string', minLength: 1, maxLength: 8192, description: "the previous page's nextCursor" },
    },
  } as const;
}

const tableRow = {
  type: 'object',
  required: ['primaryKey', 'displayKey', 'cells', 'time', 'version'],
  properties: {
    primaryKey: { type: 'string' },
    displayKey: { type: 'string' },
    cells: {
      type: 'array',
      items: {
        type: 'object',
        required: ['columnId', 'value'],
        properties: { columnId: { type: 'integer', description: 'parameter id of the column' }, value },
      },
    },
    time: { type: 'integer', description: 'epoch ms of the change' },
    version: { type: 'integer', description: 'the highest version of the row wins' },
  },
} as const;

export const tableRowsResponse = {
  type: 'object',
  required: ['rows', 'nextCursor'],
  properties: {
    rows: { type: 'array', items: tableRow, description: 'current rows in primary-key order (bytes of UTF-8)' },
    nextCursor: { type: ['string', 'null'], description: 'pass as cursor for the next page; null on the last page' },
  },
} as const;

export function savedParametersQuery(maxParameters: number) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      parameterId: { type: 'array', items: id, maxItems: maxParameters, description: 'only these parameters (repeatable)' },
    },
  } as const;
}

export const savedParametersResponse = {
  type: 'object',
  required: ['parameters'],
  properties: {
    parameters: {
      type: 'array',
      description: 'current standalone saved parameters, by parameter id',
      items: {
        type: 'object',
        required: ['parameterId', 'value', 'time', 'version'],
        properties: {
          parameterId: id,
          value,
          time: { type: 'integer', description: 'epoch ms of the change' },
          version: { type: 'integer' },
        },
      },
    },
  },
} as const;
