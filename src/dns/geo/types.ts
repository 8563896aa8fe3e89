// What the geolocation layer returns. Implemented by locator.ts over maxmind.

export interface GeoResult {
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string | undefined;
  /** Two-letter continent code, from the record or derived from the country. */
  readonly continent?: string | undefined;
  readonly lat?: number | undefined;
  readonly lon?: number | undefined;
  /** The database network containing the address, e.g. "198.51.100.0/24". */
  readonly network: string;
  /** Prefix length of that network in the address's own family (IPv4 0-32, IPv6 0-128). */
  readonly prefixLength: number;
  /**
   * Names the database record behind the result: the same number for every network of that record
   * (there are far fewer records than networks: GeoLite2 City IPv4 has 3.7M networks, 116k
   * records), -1 when not located. Decisions that depend only on the location are kept by it.
   * Absent when the locator cannot tell.
   */
  readonly recordKey?: number;
}

export interface GeoLocator {
  /**
   * Synchronous lookup; undefined when the input is not an IP or no database covers its family.
   * An address the databases do not locate yields a result with only `network`/`prefixLength`
   * (the empty range it falls in), which the ECS scope needs.
   */
  lookup(ip: string): GeoResult | undefined;
  /**
   * The same from address bytes (4, or 16 with IPv4-mapped treated as IPv4): the query path. The
   * result's `network` text is built only when read.
   */
  lookupBytes(address: Uint8Array): GeoResult | undefined;
  /** Metadata of the loaded databases, for `explain` and logs. */
  /** The files in lookup order; `image`: shared mapped snapshot or a copy in this process's heap. */
  describe(): readonly {
    path: string;
    databaseType: string;
    buildEpoch: string;
    ipVersion: number;
    image: 'mapped' | 'read';
  }[];
}
