// org.opencontainers.image.ref.name grammar (image-spec annotations.md):
//   ref       ::= component ("/" component)*
//   component ::= alphanum (separator alphanum)*
//   alphanum  ::= [A-Za-z0-9]+
//   separator ::= [-._:@+] | "--"

export const REF_NAME = 'org.opencontainers.image.ref.name';

const COMPONENT = '[A-Za-z0-9]+(?:(?:--|[-._:@+])[A-Za-z0-9]+)*';
const REF_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export function isValidRefName(ref: string): boolean {
  return REF_RE.test(ref);
}
