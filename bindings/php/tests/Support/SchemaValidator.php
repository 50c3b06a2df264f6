<?php

declare(strict_types=1);

namespace O365\Tests\Support;

/**
 * A small JSON Schema (draft 2020-12) validator for the subset that include/o365.schema.json
 * uses (schemars output), so the contract tests can check the library's real responses.
 *
 *     $v = SchemaValidator::fromFile('include/o365.schema.json');
 *     $errors = $v->errors(SchemaValidator::decode($json), $v->resolve('#/$defs/FolderList'));
 *     // [] when valid, else ['/folders/0/unread: minimum: -1 is less than 0 (schema #/...)', ...]
 *
 * Instances and schemas are JSON decoded with objects as \stdClass (decode()), so {} and []
 * stay apart. Only local $ref ("#", "#/json/pointer", with ~0 ~1 and %XX escapes) is resolved.
 * Annotation keywords (title, description, default, examples, format, ...) and x-* extensions
 * are no-ops. Every schema the validator reaches (the document at construction, any schema
 * handed to errors(), every $ref target) is first scanned: a keyword it does not implement, a
 * malformed keyword value or an unresolvable $ref throws \LogicException, so nothing in a
 * schema is silently skipped, even in a branch or property the instance never reaches.
 *
 * The same cases (tests/fixtures/schema-cases.json) are run by the C++ twin
 * (bindings/cpp/tests/schema_validator.hpp) and by Python's jsonschema.
 */
final class SchemaValidator
{
    /** keywords that never change the outcome */
    private const ANNOTATIONS = [
        '$schema', '$comment', '$defs', 'definitions', 'title', 'description', 'default', 'examples',
        'format', 'deprecated', 'readOnly', 'writeOnly', 'contentEncoding', 'contentMediaType',
    ];
    private const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions'];
    private const SCHEMAS = ['additionalProperties', 'propertyNames', 'items', 'not', 'if', 'then', 'else'];
    private const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
    private const COUNTS = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'];
    private const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
    private const OTHER = ['type', 'enum', 'const', 'required', 'uniqueItems', 'pattern', '$ref'];
    private const TYPES = ['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'];

    /** @var \stdClass|bool */
    private $root;
    /** @var array<string, true> JSON pointers (#/...) of schemas already scanned */
    private array $scanned = [];

    /** @param \stdClass|bool $root the schema document (decode()d) */
    public function __construct($root)
    {
        $this->root = $root;
        $this->scan($root, '#');
    }

    public static function fromFile(string $path): self
    {
        $text = file_get_contents($path);
        if ($text === false) {
            throw new \RuntimeException("cannot read $path");
        }
        return new self(self::decode($text));
    }

    /** JSON text to the form the validator takes: objects as \stdClass, arrays as lists. */
    public static function decode(string $json): mixed
    {
        return json_decode($json, false, 512, JSON_THROW_ON_ERROR);
    }

    /**
     * What is wrong with $instance against $schema (the whole document when null); [] when valid.
     *
     * @param \stdClass|bool|null $schema a schema inside (or resolved from) the document
     * @return list<string> "<instance path>: <keyword>: <what> (schema <path>)", at most $max
     * @throws \LogicException for a schema this validator cannot honour
     */
    public function errors(mixed $instance, $schema = null, int $max = 20): array
    {
        $schema ??= $this->root;
        $this->scan($schema, '(given schema)');
        $errors = [];
        $this->check($instance, $schema, '', '(given schema)', $errors);
        return array_slice($errors, 0, $max);
    }

    public function isValid(mixed $instance, $schema = null): bool
    {
        return $this->errors($instance, $schema, 1) === [];
    }

    /**
     * The schema a local reference points to ("#", "#/$defs/Name", JSON pointer escapes).
     *
     * @return \stdClass|bool
     * @throws \LogicException when it is not local or points nowhere
     */
    public function resolve(string $ref)
    {
        if ($ref === '#') {
            return $this->root;
        }
        if (!str_starts_with($ref, '#/')) {
            throw new \LogicException("schema: \$ref \"$ref\" is not a local JSON pointer (#/...): not supported");
        }
        $node = $this->root;
        foreach (explode('/', substr($ref, 2)) as $raw) {
            $token = str_replace(['~1', '~0'], ['/', '~'], rawurldecode($raw));
            if ($node instanceof \stdClass && property_exists($node, $token)) {
                $node = $node->{$token};
            } elseif (is_array($node) && preg_match('/^(0|[1-9][0-9]*)$/', $token) === 1
                && array_key_exists((int) $token, $node)) {
                $node = $node[(int) $token];
            } else {
                throw new \LogicException("schema: \$ref \"$ref\" points nowhere (no \"$token\")");
            }
        }
        if (!($node instanceof \stdClass) && !is_bool($node)) {
            throw new \LogicException("schema: \$ref \"$ref\" points to something that is not a schema");
        }
        return $node;
    }

    // ---- scanning: every keyword known, every value well-formed -------------------------------

    /** @param mixed $schema */
    private function scan($schema, string $path): void
    {
        if (is_bool($schema)) {
            return;
        }
        if (!($schema instanceof \stdClass)) {
            throw new \LogicException("schema: $path is not a schema (an object or a boolean)");
        }
        if (str_starts_with($path, '#')) { // a place in the document: scanned once
            if (isset($this->scanned[$path])) {
                return;
            }
            $this->scanned[$path] = true;
        }
        foreach (get_object_vars($schema) as $key => $value) {
            $key = (string) $key;
            $at = $path . '/' . self::escape($key);
            if (str_starts_with($key, 'x-')) {
                continue;
            }
            if ($key === '$id') {
                if ($path !== '#') {
                    throw new \LogicException("schema: \$id below the root ($at) is not supported");
                }
                continue;
            }
            if (in_array($key, self::SCHEMA_MAPS, true)) {
                if (!($value instanceof \stdClass)) {
                    throw new \LogicException("schema: $at must be an object of schemas");
                }
                foreach (get_object_vars($value) as $name => $sub) {
                    if ($key === 'patternProperties') {
                        self::matches((string) $name, '', $at);
                    }
                    $this->scan($sub, $at . '/' . self::escape((string) $name));
                }
            } elseif (in_array($key, self::ANNOTATIONS, true)) {
                continue;
            } elseif (in_array($key, self::SCHEMAS, true)) {
                if (is_array($value)) {
                    throw new \LogicException("schema: $at: the array form (draft 2019 and before) is not supported");
                }
                $this->scan($value, $at);
            } elseif (in_array($key, self::SCHEMA_LISTS, true)) {
                if (!is_array($value) || $value === []) {
                    throw new \LogicException("schema: $at must be a non-empty array of schemas");
                }
                foreach ($value as $i => $sub) {
                    $this->scan($sub, "$at/$i");
                }
            } elseif (in_array($key, self::COUNTS, true)) {
                if (!is_int($value) || $value < 0) {
                    throw new \LogicException("schema: $at must be a non-negative integer");
                }
            } elseif (in_array($key, self::BOUNDS, true)) {
                if (!is_int($value) && !is_float($value) || ($key === 'multipleOf' && $value <= 0)) {
                    throw new \LogicException("schema: $at must be a number" . ($key === 'multipleOf' ? ' > 0' : ''));
                }
            } elseif (in_array($key, self::OTHER, true)) {
                $this->scanOther($key, $value, $at);
            } else {
                throw new \LogicException("schema: keyword \"$key\" at $at is not implemented by this validator");
            }
        }
    }

    private function scanOther(string $key, mixed $value, string $at): void
    {
        switch ($key) {
            case 'type':
                $types = is_array($value) ? $value : [$value];
                foreach ($types as $t) {
                    if (!in_array($t, self::TYPES, true)) {
                        throw new \LogicException("schema: $at: \"" . json_encode($t) . '" is not a JSON Schema type');
                    }
                }
                if ($types === []) {
                    throw new \LogicException("schema: $at: an empty type list");
                }
                break;
            case 'enum':
                if (!is_array($value)) {
                    throw new \LogicException("schema: $at must be an array");
                }
                break;
            case 'required':
                if (!is_array($value) || array_filter($value, 'is_string') !== $value) {
                    throw new \LogicException("schema: $at must be an array of strings");
                }
                break;
            case 'uniqueItems':
                if (!is_bool($value)) {
                    throw new \LogicException("schema: $at must be a boolean");
                }
                break;
            case 'pattern':
                if (!is_string($value)) {
                    throw new \LogicException("schema: $at must be a string");
                }
                self::matches($value, '', $at);
                break;
            case '$ref':
                if (!is_string($value)) {
                    throw new \LogicException("schema: $at must be a string");
                }
                $this->scan($this->resolve($value), $value);
                break;
            // const: any value
        }
    }

    // ---- validation ------------------------------------------------------------------------

    /**
     * @param \stdClass|bool $schema
     * @param list<string> $errors
     */
    private function check(mixed $v, $schema, string $at, string $spath, array &$errors): bool
    {
        if ($schema === true) {
            return true;
        }
        if ($schema === false) {
            return self::fail($errors, $at, 'false', 'no value is allowed here', $spath);
        }
        $ok = true;
        foreach (get_object_vars($schema) as $key => $kv) {
            $key = (string) $key;
            $sp = $spath . '/' . self::escape($key);
            switch ($key) {
                case '$ref':
                    $ok = $this->check($v, $this->resolve($kv), $at, $kv, $errors) && $ok;
                    break;
                case 'type':
                    $types = is_array($kv) ? $kv : [$kv];
                    $hit = false;
                    foreach ($types as $t) {
                        $hit = $hit || self::isType($v, $t);
                    }
                    if (!$hit) {
                        $ok = self::fail($errors, $at, 'type', sprintf('expected %s, got %s %s', implode(' or ', $types),
                            self::typeName($v), self::show($v)), $sp);
                    }
                    break;
                case 'const':
                    if (!self::equal($v, $kv)) {
                        $ok = self::fail($errors, $at, 'const', sprintf('expected %s, got %s', self::show($kv), self::show($v)), $sp);
                    }
                    break;
                case 'enum':
                    $hit = false;
                    foreach ($kv as $e) {
                        $hit = $hit || self::equal($v, $e);
                    }
                    if (!$hit) {
                        $ok = self::fail($errors, $at, 'enum', sprintf('%s is not one of %s', self::show($v), self::show($kv)), $sp);
                    }
                    break;
                case 'properties':
                    if ($v instanceof \stdClass) {
                        foreach (get_object_vars($kv) as $name => $sub) {
                            $name = (string) $name;
                            if (property_exists($v, $name)) {
                                $ok = $this->check($v->{$name}, $sub, $at . '/' . self::escape($name),
                                    $sp . '/' . self::escape($name), $errors) && $ok;
                            }
                        }
                    }
                    break;
                case 'patternProperties':
                    if ($v instanceof \stdClass) {
                        foreach (get_object_vars($v) as $name => $member) {
                            foreach (get_object_vars($kv) as $pattern => $sub) {
                                if (self::matches((string) $pattern, (string) $name, $sp)) {
                                    $ok = $this->check($member, $sub, $at . '/' . self::escape((string) $name),
                                        $sp . '/' . self::escape((string) $pattern), $errors) && $ok;
                                }
                            }
                        }
                    }
                    break;
                case 'additionalProperties':
                    if ($v instanceof \stdClass) {
                        foreach (get_object_vars($v) as $name => $member) {
                            $name = (string) $name;
                            if (self::isAdditional($schema, $name)) {
                                if ($kv === false) {
                                    $ok = self::fail($errors, $at, 'additionalProperties',
                                        "member \"$name\" is not allowed", $sp);
                                } else {
                                    $ok = $this->check($member, $kv, $at . '/' . self::escape($name), $sp, $errors) && $ok;
                                }
                            }
                        }
                    }
                    break;
                case 'propertyNames':
                    if ($v instanceof \stdClass) {
                        foreach (get_object_vars($v) as $name => $member) {
                            $ok = $this->check((string) $name, $kv, $at . '/' . self::escape((string) $name), $sp, $errors) && $ok;
                        }
                    }
                    break;
                case 'required':
                    if ($v instanceof \stdClass) {
                        foreach ($kv as $name) {
                            if (!property_exists($v, $name)) {
                                $ok = self::fail($errors, $at, 'required', "member \"$name\" is missing", $sp);
                            }
                        }
                    }
                    break;
                case 'minProperties':
                case 'maxProperties':
                    if ($v instanceof \stdClass) {
                        $n = count(get_object_vars($v));
                        if ($key === 'minProperties' ? $n < $kv : $n > $kv) {
                            $ok = self::fail($errors, $at, $key, "$n members, limit $kv", $sp);
                        }
                    }
                    break;
                case 'prefixItems':
                    if (is_array($v)) {
                        foreach ($kv as $i => $sub) {
                            if (array_key_exists($i, $v)) {
                                $ok = $this->check($v[$i], $sub, "$at/$i", "$sp/$i", $errors) && $ok;
                            }
                        }
                    }
                    break;
                case 'items':
                    if (is_array($v)) {
                        $from = isset($schema->prefixItems) ? count($schema->prefixItems) : 0;
                        for ($i = $from; $i < count($v); $i++) {
                            if ($kv === false) {
                                $ok = self::fail($errors, "$at/$i", 'items', "no item is allowed beyond the first $from", $sp);
                                break;
                            }
                            $ok = $this->check($v[$i], $kv, "$at/$i", $sp, $errors) && $ok;
                        }
                    }
                    break;
                case 'minItems':
                case 'maxItems':
                    if (is_array($v)) {
                        $n = count($v);
                        if ($key === 'minItems' ? $n < $kv : $n > $kv) {
                            $ok = self::fail($errors, $at, $key, "$n items, limit $kv", $sp);
                        }
                    }
                    break;
                case 'uniqueItems':
                    if ($kv === true && is_array($v)) {
                        for ($i = 0; $i < count($v); $i++) {
                            for ($j = $i + 1; $j < count($v); $j++) {
                                if (self::equal($v[$i], $v[$j])) {
                                    $ok = self::fail($errors, $at, 'uniqueItems', "items $i and $j are equal", $sp);
                                    break 2;
                                }
                            }
                        }
                    }
                    break;
                case 'minimum':
                case 'maximum':
                case 'exclusiveMinimum':
                case 'exclusiveMaximum':
                    if (self::isNumber($v)) {
                        $bad = match ($key) {
                            'minimum' => $v < $kv,
                            'maximum' => $v > $kv,
                            'exclusiveMinimum' => $v <= $kv,
                            'exclusiveMaximum' => $v >= $kv,
                        };
                        if ($bad) {
                            $ok = self::fail($errors, $at, $key, sprintf('%s is out of range (%s %s)', self::show($v), $key, self::show($kv)), $sp);
                        }
                    }
                    break;
                case 'multipleOf':
                    if (self::isNumber($v)) {
                        if (is_int($v) && is_int($kv)) {
                            $bad = $v % $kv !== 0;
                        } else {
                            $q = $v / $kv;
                            $bad = !is_finite($q) || floor($q) != $q;
                        }
                        if ($bad) {
                            $ok = self::fail($errors, $at, 'multipleOf', self::show($v) . ' is not a multiple of ' . self::show($kv), $sp);
                        }
                    }
                    break;
                case 'minLength':
                case 'maxLength':
                    if (is_string($v)) {
                        $n = mb_strlen($v, 'UTF-8');
                        if ($key === 'minLength' ? $n < $kv : $n > $kv) {
                            $ok = self::fail($errors, $at, $key, "$n characters, limit $kv", $sp);
                        }
                    }
                    break;
                case 'pattern':
                    if (is_string($v) && !self::matches($kv, $v, $sp)) {
                        $ok = self::fail($errors, $at, 'pattern', self::show($v) . " does not match $kv", $sp);
                    }
                    break;
                case 'allOf':
                    foreach ($kv as $i => $sub) {
                        $ok = $this->check($v, $sub, $at, "$sp/$i", $errors) && $ok;
                    }
                    break;
                case 'anyOf':
                case 'oneOf':
                    $passed = [];
                    $why = [];
                    foreach ($kv as $i => $sub) {
                        $branch = [];
                        if ($this->check($v, $sub, $at, "$sp/$i", $branch)) {
                            $passed[] = $i;
                            if ($key === 'anyOf') {
                                break;
                            }
                        } else {
                            $why[] = "[$i] " . ($branch[0] ?? '?');
                        }
                    }
                    if ($passed === []) {
                        $ok = self::fail($errors, $at, $key, 'no branch matched: ' . implode('; ', $why), $sp);
                    } elseif ($key === 'oneOf' && count($passed) > 1) {
                        $ok = self::fail($errors, $at, 'oneOf', 'more than one branch matched: ' . implode(', ', $passed), $sp);
                    }
                    break;
                case 'not':
                    $ignored = [];
                    if ($this->check($v, $kv, $at, $sp, $ignored)) {
                        $ok = self::fail($errors, $at, 'not', 'the value matches the schema it must not match', $sp);
                    }
                    break;
                case 'if':
                    $ignored = [];
                    if ($this->check($v, $kv, $at, $sp, $ignored)) {
                        if (property_exists($schema, 'then')) {
                            $ok = $this->check($v, $schema->then, $at, "$spath/then", $errors) && $ok;
                        }
                    } elseif (property_exists($schema, 'else')) {
                        $ok = $this->check($v, $schema->else, $at, "$spath/else", $errors) && $ok;
                    }
                    break;
                // then/else: through if; annotations and x-*: no-ops (scan() refused the rest)
            }
        }
        return $ok;
    }

    /** @param \stdClass $schema */
    private static function isAdditional(\stdClass $schema, string $name): bool
    {
        if (isset($schema->properties) && property_exists($schema->properties, $name)) {
            return false;
        }
        foreach (get_object_vars($schema->patternProperties ?? new \stdClass()) as $pattern => $sub) {
            if (self::matches((string) $pattern, $name, '')) {
                return false;
            }
        }
        return true;
    }

    /** @param list<string> $errors */
    private static function fail(array &$errors, string $at, string $keyword, string $what, string $spath): bool
    {
        $errors[] = sprintf('%s: %s: %s (schema %s)', $at === '' ? '(root)' : $at, $keyword, $what, $spath);
        return false;
    }

    /** ECMA-262 pattern, unanchored, on code points. */
    private static function matches(string $pattern, string $subject, string $at): bool
    {
        $r = @preg_match('(' . $pattern . ')u', $subject);
        if ($r === false) {
            throw new \LogicException("schema: $at: pattern \"$pattern\" cannot be compiled: " . preg_last_error_msg());
        }
        return $r === 1;
    }

    private static function isNumber(mixed $v): bool
    {
        return is_int($v) || is_float($v);
    }

    private static function isType(mixed $v, string $type): bool
    {
        return match ($type) {
            'null' => $v === null,
            'boolean' => is_bool($v),
            'object' => $v instanceof \stdClass,
            'array' => is_array($v),
            'number' => self::isNumber($v),
            'integer' => is_int($v) || (is_float($v) && is_finite($v) && floor($v) == $v),
            'string' => is_string($v),
        };
    }

    private static function typeName(mixed $v): string
    {
        foreach (['null', 'boolean', 'object', 'array', 'integer', 'number', 'string'] as $t) {
            if (self::isType($v, $t)) {
                return $t;
            }
        }
        return get_debug_type($v);
    }

    /** JSON equality: numbers by value (1 == 1.0), objects regardless of member order. */
    private static function equal(mixed $a, mixed $b): bool
    {
        if (self::isNumber($a) && self::isNumber($b)) {
            return $a == $b;
        }
        if (is_array($a) && is_array($b)) {
            if (count($a) !== count($b)) {
                return false;
            }
            foreach ($a as $i => $x) {
                if (!self::equal($x, $b[$i])) {
                    return false;
                }
            }
            return true;
        }
        if ($a instanceof \stdClass && $b instanceof \stdClass) {
            $x = get_object_vars($a);
            $y = get_object_vars($b);
            if (count($x) !== count($y)) {
                return false;
            }
            foreach ($x as $k => $m) {
                if (!property_exists($b, (string) $k) || !self::equal($m, $b->{(string) $k})) {
                    return false;
                }
            }
            return true;
        }
        return $a === $b;
    }

    private static function escape(string $token): string
    {
        return str_replace(['~', '/'], ['~0', '~1'], $token);
    }

    private static function show(mixed $v): string
    {
        $s = json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
        $s = $s === false ? get_debug_type($v) : $s;
        return strlen($s) > 80 ? substr($s, 0, 77) . '...' : $s;
    }
}
