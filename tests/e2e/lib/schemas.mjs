// The JSON Schemas the suites send for structured output and tool calls, and
// for each a validator written by hand from the schema (not a schema engine:
// what "valid" means here is spelled out line by line, so that a server that
// accepts a schema but does not enforce it cannot pass).

// Every bound is finite, so that a random model at temperature 1 always
// completes an answer within a few hundred tokens.
export const personSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    tags: { type: 'array', items: { type: 'string', enum: ['red', 'green', 'blue'] }, maxItems: 3 },
    active: { type: 'boolean' },
  },
  required: ['name', 'age', 'tags', 'active'],
  additionalProperties: false,
};

function isPlainObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// JSON Schema counts string length in code points, not UTF-16 units.
function codePoints(s) {
  return [...s].length;
}

function exactKeys(value, keys, errors) {
  const got = Object.keys(value).sort();
  const want = [...keys].sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    errors.push(`keys ${JSON.stringify(got)}, want exactly ${JSON.stringify(want)}`);
  }
}

export function validatePerson(value) {
  const errors = [];
  if (!isPlainObject(value)) return ['not an object'];
  exactKeys(value, ['name', 'age', 'tags', 'active'], errors);
  const { name, age, tags, active } = value;
  if (typeof name !== 'string') errors.push('name is not a string');
  else if (codePoints(name) < 1 || codePoints(name) > 12) errors.push(`name has ${codePoints(name)} characters`);
  if (!Number.isInteger(age)) errors.push('age is not an integer');
  else if (age < 0 || age > 120) errors.push(`age ${age} outside 0..120`);
  if (!Array.isArray(tags)) errors.push('tags is not an array');
  else {
    if (tags.length > 3) errors.push(`tags has ${tags.length} items`);
    for (const t of tags) {
      if (!['red', 'green', 'blue'].includes(t)) errors.push(`tag ${JSON.stringify(t)} not in the enum`);
    }
  }
  if (typeof active !== 'boolean') errors.push('active is not a boolean');
  return errors;
}

export const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather forecast for a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', minLength: 1, maxLength: 10 },
        days: { type: 'integer', minimum: 1, maximum: 7 },
      },
      required: ['city', 'days'],
      additionalProperties: false,
    },
  },
};

export const timeTool = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The current time in a time zone',
    parameters: {
      type: 'object',
      properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } },
      required: ['zone'],
      additionalProperties: false,
    },
  },
};

// Validates a call's arguments (an object already parsed) for its tool.
export function validateToolArguments(name, args) {
  const errors = [];
  if (!isPlainObject(args)) return ['arguments are not an object'];
  if (name === 'get_weather') {
    exactKeys(args, ['city', 'days'], errors);
    if (typeof args.city !== 'string') errors.push('city is not a string');
    else if (codePoints(args.city) < 1 || codePoints(args.city) > 10) errors.push('city length out of 1..10');
    if (!Number.isInteger(args.days) || args.days < 1 || args.days > 7) errors.push(`days ${args.days} not an integer in 1..7`);
  } else if (name === 'get_time') {
    exactKeys(args, ['zone'], errors);
    if (args.zone !== 'UTC' && args.zone !== 'CET') errors.push(`zone ${JSON.stringify(args.zone)} not in the enum`);
  } else {
    errors.push(`unknown tool ${name}`);
  }
  return errors;
}

// A schema that leaves the model exactly one answer: the JSON form of a
// Gemma 3 tool call ({"name": ..., "arguments": {...}}), which the server's
// tool-call parser must recognise. Lets a random model "decide" to call.
export function forcedCallSchema(name, args) {
  const argProps = {};
  for (const [k, v] of Object.entries(args)) argProps[k] = { const: v };
  return {
    type: 'object',
    properties: {
      name: { const: name },
      arguments: {
        type: 'object',
        properties: argProps,
        required: Object.keys(args),
        additionalProperties: false,
      },
    },
    required: ['name', 'arguments'],
    additionalProperties: false,
  };
}
