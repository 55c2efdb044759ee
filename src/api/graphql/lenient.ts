/**
 * The leniency real Cloudflare clients need (the reference's §1): Cloudflare's own KV examples use
 * variables they never declare, clients declare `string!`, `String!` or `string` where `string!` is
 * wanted, `string` for a Date, or a type name of another dataset (wrangler's `d1 insights`). graphql-js
 * refuses each of these in validation or while coercing variables. So before validating, every variable
 * use is replaced by its value written as a literal, converted for the position it is used in (an enum
 * position gets an enum value), and the variable declarations are dropped: values are then checked and
 * coerced by the position's own type, with standard validation. A variable with no value removes the
 * argument or input field that uses it, as a missing variable does in GraphQL.
 */
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ArgumentNode,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type ObjectFieldNode,
  type ValueNode,
} from "graphql";

function toLiteral(value: unknown, type: GraphQLInputType | null | undefined): ValueNode {
  const t = type ? getNullableType(type) : null;
  if (value === null || value === undefined) return { kind: Kind.NULL };
  if (Array.isArray(value)) {
    const item = t && isListType(t) ? (t.ofType as GraphQLInputType) : t;
    return { kind: Kind.LIST, values: value.map((v) => toLiteral(v, item)) };
  }
  if (t && isListType(t)) return toLiteral(value, t.ofType as GraphQLInputType);
  if (typeof value === "object") {
    const fields = t && isInputObjectType(t) ? t.getFields() : {};
    return {
      kind: Kind.OBJECT,
      fields: Object.entries(value as Record<string, unknown>).map(([name, v]) => ({
        kind: Kind.OBJECT_FIELD,
        name: { kind: Kind.NAME, value: name },
        value: toLiteral(v, fields[name]?.type),
      })),
    };
  }
  if (typeof value === "string") return t && isEnumType(getNamedType(t)) ? { kind: Kind.ENUM, value } : { kind: Kind.STRING, value };
  if (typeof value === "number") return Number.isInteger(value) ? { kind: Kind.INT, value: String(value) } : { kind: Kind.FLOAT, value: String(value) };
  if (typeof value === "boolean") return { kind: Kind.BOOLEAN, value };
  return { kind: Kind.STRING, value: String(value) };
}

/** `document` with every variable replaced by its value from `variables` (or its declared default). */
export function inlineVariables(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>): DocumentNode {
  const defaults = new Map<string, ValueNode>();
  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const v of def.variableDefinitions ?? []) if (v.defaultValue) defaults.set(v.variable.name.value, v.defaultValue);
  }
  const missing = (name: string) => !Object.hasOwn(variables, name) && !defaults.has(name);
  const dropIfMissing = (node: ArgumentNode | ObjectFieldNode) => (node.value.kind === Kind.VARIABLE && missing(node.value.name.value) ? null : undefined);
  const typeInfo = new TypeInfo(schema);
  return visit(
    document,
    visitWithTypeInfo(typeInfo, {
      VariableDefinition: () => null,
      Argument: dropIfMissing,
      ObjectField: dropIfMissing,
      Variable(node) {
        const name = node.name.value;
        if (Object.hasOwn(variables, name)) return toLiteral(variables[name], typeInfo.getInputType());
        return defaults.get(name) ?? { kind: Kind.NULL };
      },
    }),
  );
}
