// Bun bundles `import x from "./file.sh" with { type: "text" }` as a string.
declare module "*.sh" {
  const text: string;
  export default text;
}
