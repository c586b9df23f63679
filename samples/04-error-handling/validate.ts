// Validation the CRD's OpenAPI schema cannot express (URL shape, cross-field rules),
// as one function returning every problem at once: a user fixes them all in one go.
// The sandbox has only ECMAScript built-ins (no `URL`), hence the regular expressions.

/** What a Shortlink asks for. */
export interface ShortlinkSpec {
  slug: string;
  target: string;
}

const scheme = /^([a-z][a-z0-9+.-]*):/i;
const httpUrl = /^https?:\/\/[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?(\/[^\s]*)?$/i;

/** Lists what is wrong with `spec`; empty when it is valid. */
export function problems(spec: ShortlinkSpec): string[] {
  const found: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(spec.slug)) {
    found.push(`spec.slug "${spec.slug}" must be 1-63 lower-case letters, digits or '-', starting with a letter or digit`);
  }
  const protocol = scheme.exec(spec.target)?.[1]?.toLowerCase();
  if (protocol === undefined) {
    found.push(`spec.target "${spec.target}" is not an absolute URL (e.g. https://example.com/page)`);
  } else if (protocol !== "http" && protocol !== "https") {
    found.push(`spec.target must use http or https, not ${protocol}`);
  } else if (!httpUrl.test(spec.target)) {
    found.push(`spec.target "${spec.target}" is not a valid http(s) URL`);
  } else if (new RegExp(`^https?://[^/]+/s/${spec.slug}/?$`, "i").test(spec.target)) {
    found.push(`spec.target points at the shortlink itself (/s/${spec.slug}): that would loop`);
  }
  return found;
}
