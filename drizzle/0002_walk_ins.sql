ALTER TABLE "patients" ADD COLUMN "registration_id" uuid;--> statement-breakpoint
ALTER TABLE "patients" ADD COLUMN "name_key" text;--> statement-breakpoint
UPDATE "patients" SET "name_key" = lower("first_name" || ' ' || "last_name");--> statement-breakpoint
ALTER TABLE "patients" ALTER COLUMN "name_key" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "patients" ADD COLUMN "phone" text;--> statement-breakpoint
ALTER TABLE "patients" ADD COLUMN "possible_duplicate_of" uuid;--> statement-breakpoint
CREATE INDEX "patients_match_idx" ON "patients" USING btree ("name_key","date_of_birth");--> statement-breakpoint
ALTER TABLE "patients" ADD CONSTRAINT "patients_registration_id_unique" UNIQUE("registration_id");