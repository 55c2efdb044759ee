// htm bound to Preact: tagged templates whose interpolations become text nodes and attribute values,
// never parsed HTML.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);
