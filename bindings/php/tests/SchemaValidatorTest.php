<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Tests\Support\Jsonschema;
use O365\Tests\Support\SchemaValidator;

/**
 * The contract tests' JSON Schema validator (Support/SchemaValidator.php) on the shared cases of
 * tests/fixtures/schema-cases.json, which the C++ validator runs too; Python's jsonschema
 * (tests/fixtures/schema_cases.py) answers the same cases in the same run, so the three agree.
 */
final class SchemaValidatorTest extends \PHPUnit\Framework\TestCase
{
    private static function fixtures(): string
    {
        return dirname(__DIR__, 3) . '/tests/fixtures';
    }

    /** @return \stdClass the cases file, objects as \stdClass */
    private static function cases(): \stdClass
    {
        $text = file_get_contents(self::fixtures() . '/schema-cases.json');
        self::assertIsString($text);
        return SchemaValidator::decode($text);
    }

    public function testEveryCaseAgreesWithItsExpectationAndWithPythonJsonschema(): void
    {
        $cases = self::cases()->cases;
        self::assertGreaterThan(100, count($cases));

        $python = Jsonschema::verdicts([self::fixtures() . '/schema-cases.json']);
        self::assertCount(count($cases), $python);

        $wrong = [];
        foreach ($cases as $i => $case) {
            $v = new SchemaValidator($case->schema);
            $errors = $v->errors($case->instance);
            $php = $errors === [];
            if ($php !== $case->valid) {
                $wrong[] = sprintf('PHP: "%s": expected %s, got %s %s', $case->description,
                    json_encode($case->valid), json_encode($php), implode(' | ', $errors));
            }
            if ($python[$i] !== $case->valid) {
                $wrong[] = sprintf('python jsonschema: "%s": expected %s, got %s', $case->description,
                    json_encode($case->valid), json_encode($python[$i]));
            }
        }
        self::assertSame([], $wrong);
    }

    public function testUnsupportedKeywordsAndBadReferencesThrowInsteadOfAnswering(): void
    {
        $cases = self::cases()->unsupported;
        self::assertGreaterThan(10, count($cases));
        $answered = [];
        foreach ($cases as $case) {
            try {
                $v = new SchemaValidator($case->schema);
                $errors = $v->errors($case->instance);
                $answered[] = sprintf('"%s" answered %s', $case->description,
                    $errors === [] ? 'valid' : implode(' | ', $errors));
            } catch (\LogicException $e) {
                self::assertStringStartsWith('schema: ', $e->getMessage(), $case->description);
            }
        }
        self::assertSame([], $answered);
    }

    public function testAMessageNamesTheInstancePathTheKeywordAndTheSchemaPlace(): void
    {
        $v = new SchemaValidator(SchemaValidator::decode('{"$defs": {"Folder": {"type": "object",
            "properties": {"unread": {"type": "integer", "minimum": 0}, "name": {"type": "string"}},
            "required": ["name"], "additionalProperties": false}},
            "type": "object", "properties": {"folders": {"type": "array", "items": {"$ref": "#/$defs/Folder"}}}}'));
        $errors = $v->errors(SchemaValidator::decode(
            '{"folders": [{"name": "a", "unread": 1}, {"name": 7, "unread": -1, "extra": true}, {}]}'));
        self::assertSame([
            '/folders/1/unread: minimum: -1 is out of range (minimum 0) (schema #/$defs/Folder/properties/unread/minimum)',
            '/folders/1/name: type: expected string, got integer 7 (schema #/$defs/Folder/properties/name/type)',
            '/folders/1: additionalProperties: member "extra" is not allowed (schema #/$defs/Folder/additionalProperties)',
            '/folders/2: required: member "name" is missing (schema #/$defs/Folder/required)',
        ], $errors);
        $resolved = $v->resolve('#/$defs/Folder');
        self::assertSame(['(root): type: expected object, got array [] (schema (given schema)/type)'],
            $v->errors([], $resolved));
    }
}
