import { describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import type { ManifestColumn } from "../../src/manifest/types.js";
import { PROVENANCE_TAGS } from "../../src/workers/phases/provenance.js";
import { readAll, summarise } from "./manifest-helpers.js";

const SPECS =
  "RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512";
const USAGES = "SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT";
const TAG_CHARS = "letters, digits, spaces and _ . : / = + - @";
const a = (n: number) => "a".repeat(n);
const cut = (text: string) => `${text.slice(0, 77)}...`;
// KMS's 50 tags per key, less the provenance tags hsm2kms adds itself (however many there are).
const OWN_TAGS = Object.keys(PROVENANCE_TAGS).length;
const tagsOf = (count: number) => Array.from({ length: count }, (_, i) => `k${i}=v`).join(";");
const manyTags = tagsOf(51 - OWN_TAGS);

type Cells = Partial<Record<ManifestColumn, string>>;
type Case = [name: string, cells: Cells, problems: Array<[string | undefined, string]>, region?: string];

// Each bad row sits on line 3 between two good rows, which must still come through.
const ROW_CASES: Case[] = [
  [
    "no source key",
    { key_spec: "RSA_2048" },
    [[undefined, "no source key: expected a source_label or a source_id"]],
  ],
  [
    "label too long",
    { source_label: a(257) },
    [["source_label", `"${cut(a(257))}" is 257 characters long; expected at most 256`]],
  ],
  [
    "label with a tab",
    { source_label: "a\tb" },
    [["source_label", '"a\\tb" holds a control character; expected printable text']],
  ],
  [
    "label with a bidi override",
    { source_label: "a\u202eb" },
    [["source_label", '"a\\u{202e}b" holds a control character; expected printable text']],
  ],
  [
    "id not hex",
    { source_id: "xyz" },
    [["source_id", '"xyz" is not hex; expected the CKA_ID as hex digits, e.g. 0a1b2c']],
  ],
  [
    "id odd length",
    { source_id: "abc" },
    [["source_id", '"abc" has an odd number of hex digits; expected whole bytes (an even number)']],
  ],
  [
    "id only 0x",
    { source_id: "0x" },
    [["source_id", '"0x" is not hex; expected the CKA_ID as hex digits, e.g. 0a1b2c']],
  ],
  [
    "id too long",
    { source_id: "ab".repeat(65) },
    [["source_id", `"${cut("ab".repeat(65))}" is 130 hex digits long; expected at most 128`]],
  ],
  [
    "spec typo",
    { source_label: "k", key_spec: "ECC_P256" },
    [
      [
        "key_spec",
        `"ECC_P256" is not a KMS key spec (did you mean ECC_NIST_P256?); expected one of ${SPECS}`,
      ],
    ],
  ],
  [
    "spec lower case",
    { source_label: "k", key_spec: "rsa_2048" },
    [["key_spec", `"rsa_2048" is not a KMS key spec (did you mean RSA_2048?); expected one of ${SPECS}`]],
  ],
  [
    "spec family only",
    { source_label: "k", key_spec: "RSA" },
    [
      [
        "key_spec",
        `"RSA" is not a KMS key spec (did you mean RSA_2048, RSA_3072 or RSA_4096?); expected one of ${SPECS}`,
      ],
    ],
  ],
  [
    "spec unknown",
    { source_label: "k", key_spec: "FOO" },
    [["key_spec", `"FOO" is not a KMS key spec; expected one of ${SPECS}`]],
  ],
  [
    "usage typo",
    { source_label: "k", key_usage: "SIGN" },
    [["key_usage", `"SIGN" is not a KMS key usage (did you mean SIGN_VERIFY?); expected one of ${USAGES}`]],
  ],
  [
    "usage not for RSA",
    { source_label: "k", key_spec: "RSA_2048", key_usage: "KEY_AGREEMENT" },
    [["key_usage", "KEY_AGREEMENT is not a usage of RSA_2048; expected SIGN_VERIFY or ENCRYPT_DECRYPT"]],
  ],
  [
    "usage not for HMAC",
    { source_label: "k", key_spec: "HMAC_256", key_usage: "ENCRYPT_DECRYPT" },
    [["key_usage", "ENCRYPT_DECRYPT is not a usage of HMAC_256; expected GENERATE_VERIFY_MAC"]],
  ],
  [
    "alias without prefix",
    { source_label: "k", alias: "foo" },
    [["alias", '"foo" is not an alias name; expected alias/<name> with letters, digits, /_-']],
  ],
  [
    "alias empty name",
    { source_label: "k", alias: "alias/" },
    [["alias", '"alias/" is not an alias name; expected alias/<name> with letters, digits, /_-']],
  ],
  [
    "alias with a space",
    { source_label: "k", alias: "alias/a b" },
    [["alias", '"alias/a b" is not an alias name; expected alias/<name> with letters, digits, /_-']],
  ],
  [
    "alias reserved",
    { source_label: "k", alias: "alias/aws/kms" },
    [
      [
        "alias",
        '"alias/aws/kms" is reserved for AWS managed keys; expected a name not starting with alias/aws/',
      ],
    ],
  ],
  [
    "alias too long",
    { source_label: "k", alias: `alias/${a(251)}` },
    [["alias", `"${cut(`alias/${a(251)}`)}" is 257 characters long; expected alias/ and at most 250 more`]],
  ],
  [
    "description too long",
    { source_label: "k", description: a(8193) },
    [["description", "is 8193 characters long; expected at most 8192"]],
  ],
  [
    "description with a bell",
    { source_label: "k", description: "a\u0007b" },
    [["description", '"a\\u{7}b" holds a control character; expected text (tabs and line breaks are fine)']],
  ],
  [
    "tag without =",
    { source_label: "k", tags: "a" },
    [["tags", '"a" is not key=value; expected tags as key=value;key=value']],
  ],
  [
    "tag empty key",
    { source_label: "k", tags: "=v" },
    [["tags", 'a tag has an empty key; expected 1-128 characters before "="']],
  ],
  [
    "tag key aws:",
    { source_label: "k", tags: "aws:owner=x" },
    [["tags", 'tag key "aws:owner" starts with aws:, which AWS reserves; expected another key']],
  ],
  [
    "tag key twice",
    { source_label: "k", tags: "a=1;a=2" },
    [["tags", 'tag key "a" appears twice; expected each key once']],
  ],
  [
    "tag key too long",
    { source_label: "k", tags: `${a(129)}=v` },
    [["tags", `tag key "${cut(a(129))}" is 129 characters long; expected at most 128`]],
  ],
  [
    "tag value too long",
    { source_label: "k", tags: `k=${a(257)}` },
    [["tags", 'tag "k" has a value 257 characters long; expected at most 256']],
  ],
  [
    "tag key bad char",
    { source_label: "k", tags: "a#b=1" },
    [["tags", `tag key "a#b" holds "#"; expected ${TAG_CHARS}`]],
  ],
  [
    "tag value bad char",
    { source_label: "k", tags: "a=x*y" },
    [["tags", `tag "a" has a value holding "*"; expected ${TAG_CHARS}`]],
  ],
  [
    "more tags than KMS takes beside the provenance tags",
    { source_label: "k", tags: manyTags },
    [
      [
        "tags",
        `${51 - OWN_TAGS} tags; expected at most ${50 - OWN_TAGS} (KMS allows 50 per key and hsm2kms adds ${OWN_TAGS} provenance tags of its own)`,
      ],
    ],
  ],
  [
    "a provenance tag key",
    { source_label: "k", tags: `${PROVENANCE_TAGS.migrationId}=x` },
    [
      [
        "tags",
        `tag key "${PROVENANCE_TAGS.migrationId}" is a provenance tag hsm2kms sets itself; expected another key`,
      ],
    ],
  ],
  [
    "two tag problems",
    { source_label: "k", tags: "x;aws:y=1" },
    [
      ["tags", '"x" is not key=value; expected tags as key=value;key=value'],
      ["tags", 'tag key "aws:y" starts with aws:, which AWS reserves; expected another key'],
    ],
  ],
  [
    "region unknown",
    { source_label: "k", region: "mars-1" },
    [["region", '"mars-1" is not an AWS Region name; expected e.g. us-east-1']],
  ],
  [
    "no region at all",
    { source_label: "k" },
    [["region", "no region: set the region column or AWS_REGION"]],
    "none",
  ],
  [
    "replica Region not a Region",
    { source_label: "k", multi_region: "true", replica_regions: "us-west-2;mars" },
    [
      [
        "replica_regions",
        `"mars" is not an AWS Region name; expected Region names separated by ';', e.g. us-west-2;eu-west-1`,
      ],
    ],
  ],
  [
    "replicas of a single-Region key",
    { source_label: "k", replica_regions: "us-west-2" },
    [["replica_regions", "replicas need a multi-Region key; expected multi_region=true on this row"]],
  ],
  [
    "replica in the primary's own Region",
    { source_label: "k", multi_region: "true", region: "us-east-1", replica_regions: "us-east-1" },
    [["replica_regions", "us-east-1 is the primary's own Region; expected only other Regions"]],
  ],
  [
    "replica Region twice",
    { source_label: "k", multi_region: "true", replica_regions: "us-west-2; us-west-2" },
    [["replica_regions", "a Region is listed twice; expected each Region once"]],
  ],
  [
    "multi_region yes",
    { source_label: "k", multi_region: "yes" },
    [["multi_region", '"yes" is not true or false; expected true, false or empty (false)']],
  ],
  [
    "expiry not a time",
    { source_label: "k", expires_at: "tomorrow" },
    [["expires_at", '"tomorrow" is not an ISO-8601 time; expected e.g. 2026-01-31T12:00:00Z or 2026-01-31']],
  ],
  [
    "expiry without zone",
    { source_label: "k", expires_at: "2026-07-01T00:00:00" },
    [
      [
        "expires_at",
        '"2026-07-01T00:00:00" has no time zone; expected Z or an offset such as +02:00 at the end',
      ],
    ],
  ],
  [
    "expiry no such day",
    { source_label: "k", expires_at: "2026-02-30" },
    [
      [
        "expires_at",
        '"2026-02-30" is not a valid date and time; expected e.g. 2026-01-31T12:00:00Z or 2026-01-31',
      ],
    ],
  ],
  [
    "expiry past",
    { source_label: "k", expires_at: "2026-01-01T00:00:00Z" },
    [
      [
        "expires_at",
        '"2026-01-01T00:00:00Z" is not in the future; expected a time after 2026-06-01T00:00:00.000Z',
      ],
    ],
  ],
  [
    "expiry too far",
    { source_label: "k", expires_at: "2027-06-02" },
    [
      [
        "expires_at",
        '"2027-06-02" is more than 365 days ahead; expected a time not after 2027-06-01T00:00:00.000Z (KMS limit)',
      ],
    ],
  ],
  [
    "every problem of a row, in column order",
    { source_label: "k", key_spec: "X", alias: "b", region: "r" },
    [
      ["key_spec", `"X" is not a KMS key spec; expected one of ${SPECS}`],
      ["alias", '"b" is not an alias name; expected alias/<name> with letters, digits, /_-'],
      ["region", '"r" is not an AWS Region name; expected e.g. us-east-1'],
    ],
  ],
];

describe("manifest: row problems", () => {
  it.each(ROW_CASES)("%s", async (_name, cells, problems, region) => {
    const good = (label: string) => ({ source_label: label, region: "us-east-1" });
    const csv = formatManifestCsv([good("good1"), cells, good("good2")]);
    const defaultRegion = region === "none" ? undefined : "eu-west-1";
    const { entries, error } = await readAll(csv, { defaultRegion });
    expect(error).toBeUndefined();
    expect(summarise(entries)).toEqual([
      { line: 2, label: "good1" },
      { line: 3, problems },
      { line: 4, label: "good2" },
    ]);
  });

  it("accepts as many tags as KMS takes beside the provenance tags", async () => {
    const { entries } = await readAll(
      formatManifestCsv([{ source_label: "k", tags: tagsOf(50 - OWN_TAGS) }]),
    );
    expect(summarise(entries)).toEqual([{ line: 2, label: "k" }]);
  });

  it("reports a record with the wrong number of fields and goes on", async () => {
    const { entries } = await readAll("source_label,alias\nk1,alias/a\nk2\nk3,alias/c,extra\nk4,\n");
    expect(summarise(entries)).toEqual([
      { line: 2, label: "k1" },
      { line: 3, problems: [[undefined, "has 1 field; expected 2, one per header column"]] },
      { line: 4, problems: [[undefined, "has 3 fields; expected 2, one per header column"]] },
      { line: 5, label: "k4" },
    ]);
  });

  it("rejects the later of two rows for the same key and region, and reuses of an alias in a region", async () => {
    const csv =
      "source_label,source_id,alias,region\nk1,0a,alias/a,eu-west-1\nk1,0x0A,,eu-west-1\nk1,0a,,us-east-1\nk2,,alias/a,eu-west-1\nk3,,alias/a,us-east-1\n";
    const { entries } = await readAll(csv);
    expect(summarise(entries)).toEqual([
      { line: 2, label: "k1" },
      {
        line: 3,
        problems: [
          [
            undefined,
            "duplicate of line 2: the same source key and region; expected each key once per region",
          ],
        ],
      },
      { line: 4, label: "k1" },
      {
        line: 5,
        problems: [
          [
            "alias",
            '"alias/a" is already used in eu-west-1 by line 2; expected one key per alias and region',
          ],
        ],
      },
      { line: 6, label: "k3" },
    ]);
  });

  it("does not count a rejected row as taken: its corrected copy passes", async () => {
    const { entries } = await readAll("source_label,key_spec,alias\nk1,BAD,alias/a\nk1,RSA_2048,alias/a\n");
    expect(summarise(entries).map((e) => e.line)).toEqual([2, 3]);
    expect(entries[1]?.kind).toBe("row");
  });
});
