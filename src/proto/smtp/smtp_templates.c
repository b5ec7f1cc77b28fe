/* smtp_templates.c — five synthetic spam campaigns rendered with per-recipient variation. */
#include "proto/smtp/smtp_templates.h"

#include <stdio.h>
#include <string.h>

/*
 * Placeholders: {N} a first name, {D} a number of 4-9 digits, {T} a
 * 10-letter token, {P} a discount 50-90. The texts are long enough (about
 * 1 KB) for ssdeep to see their structure, as real campaign bodies are.
 */
static const char *const smtp_tpl_body[SMTP_TEMPLATES] = {
	"Dear {N},\r\n\r\nPharmacy Express has your order {D} ready with -{P}% on every\r\n"
	"item this week only. Viagra, Cialis, Levitra and 200 more brand and generic\r\n"
	"medications, no prescription needed, discreet worldwide shipping, secure\r\n"
	"payment by Visa and MasterCard. Our licensed pharmacists are online 24/7.\r\n\r\n"
	"Visit http://pharmacy-express.example/{T} to claim your discount before it\r\n"
	"expires. Reorder bonus: free pills with every order over $200, and free\r\n"
	"airmail shipping on orders over $300. Customer number {D}.\r\n\r\n"
	"Testimonials: \"Fast delivery, great prices\" - M.K., Ohio. \"Best online\r\n"
	"pharmacy I have used\" - J.S., London. Over 1,000,000 satisfied customers.\r\n\r\n"
	"To stop receiving these offers reply with REMOVE in the subject line.\r\n",

	"Congratulations {N}!\r\n\r\nYour e-mail address was selected in the MICROSOFT\r\n"
	"INTERNATIONAL E-MAIL LOTTERY draw held on Monday, winning the sum of\r\n"
	"USD 1,500,000.00 (one million five hundred thousand US dollars) in the\r\n"
	"second category. Your ticket number is {D} and your batch number is\r\n"
	"{D}/{D}. All participants were selected through a computer ballot system\r\n"
	"drawn from over 20,000 company and 30,000,000 individual e-mail addresses\r\n"
	"from all over the world as part of our international promotions program.\r\n\r\n"
	"To file for your claim, contact our fiduciary agent Mr. Peter Brown with\r\n"
	"your full name, address, telephone number and the reference {T}.\r\n"
	"Claims must be received within 14 working days. Keep this notice secret\r\n"
	"until your claim is processed, to avoid double claiming.\r\n\r\n"
	"Yours faithfully, Mrs. Anna Green, Lottery Coordinator.\r\n",

	"Hello {N},\r\n\r\nReplica watches of the finest quality: Rolex, Omega, Breitling,\r\n"
	"Cartier, Tag Heuer and Patek Philippe, indistinguishable from the original,\r\n"
	"with Swiss movement, sapphire crystal and the same weight as the real thing.\r\n"
	"Prices start at just $199 and our holiday sale takes another {P}% off.\r\n\r\n"
	"Every watch ships in its original box with papers and a one year warranty.\r\n"
	"Catalogue: http://luxury-replicas.example/catalog/{T}\r\n"
	"Your personal coupon code is {D}. Free express delivery to your door.\r\n\r\n"
	"Why pay thousands when you can have the same look for a fraction of the\r\n"
	"price? Impress your friends, your colleagues and your business partners.\r\n"
	"Limited stock: over {D} models sold last month alone.\r\n",

	"Dear {N},\r\n\r\nWe detected unusual activity on your online banking account and\r\n"
	"have temporarily limited access to protect you. Reference: {D}.\r\n\r\n"
	"To restore full access you must verify your identity within 48 hours,\r\n"
	"otherwise your account will be suspended permanently and pending\r\n"
	"transactions will be cancelled. Please log in using the secure link below\r\n"
	"and confirm your personal details, card number and security code:\r\n\r\n"
	"https://secure-banking-verify.example/login?session={T}\r\n\r\n"
	"This is an automated message from the Security Department. Please do not\r\n"
	"reply to this e-mail. We apologise for any inconvenience and thank you for\r\n"
	"helping us keep your account safe. Case number {D}.\r\n",

	"Hi {N}!\r\n\r\nOur stock pick of the year: GREEN ENERGY SOLUTIONS INC (GESI) is\r\n"
	"about to explode. Current price $0.{D}, our target $2.50 within ten days.\r\n"
	"Major news release expected Monday: a contract with a Fortune 500 company\r\n"
	"for solar panel installations worth $40 million. Insiders are buying.\r\n\r\n"
	"Volume is up {P}% this week and the chart shows a perfect breakout pattern.\r\n"
	"Get in before the crowd does and watch it climb like our last three picks,\r\n"
	"which returned 300%, 450% and 800% to our subscribers.\r\n\r\n"
	"Full report: http://hot-stock-alert.example/r/{T}\r\n"
	"Subscriber id {D}. Disclaimer: this is not investment advice; we were paid\r\n"
	"by a third party to distribute this report.\r\n",
};

static const char *const smtp_tpl_subject[SMTP_TEMPLATES] = {
	"Dear {N} -{P}% now",
	"MICROSOFT LOTTERY: winning notification {D}",
	"{N}, replica watches {P}% off",
	"Account alert: action required ({D})",
	"{N}: GESI is about to explode",
};

static const char *const smtp_tpl_mailer[SMTP_TEMPLATES] = {
	"Microsoft Outlook Express 6.00.2900.2180",	   "The Bat! (v3.81.14) Professional",
	"Microsoft Office Outlook, Build 11.0.5510",	   NULL,
	"Mozilla Thunderbird 1.5.0.10 (Windows/20070221)",
};

static const char *const smtp_tpl_names[] = {
	"alice", "bob",	 "carol",   "dave",  "erin",  "frank", "grace",	 "heidi",
	"ivan",	 "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter",
};

uint64_t smtp_template_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x2545f4914f6cdd1dull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Expands one template string; `name` replaces {N} (a random name when NULL). */
static size_t smtp_tpl_expand(const char *tpl, const char *name, uint64_t *rng, char *out,
			      size_t cap, size_t len)
{
	for (const char *p = tpl; *p && len + 1 < cap; p++) {
		char tmp[32];
		const char *ins = NULL;
		if (p[0] == '{' && p[1] && p[2] == '}') {
			switch (p[1]) {
			case 'N':
				ins = name ? name :
					     smtp_tpl_names[smtp_template_rand(rng) %
							    (sizeof smtp_tpl_names /
							     sizeof smtp_tpl_names[0])];
				break;
			case 'D': {
				unsigned digits = 4 + (unsigned)(smtp_template_rand(rng) % 6);
				for (unsigned i = 0; i < digits; i++)
					tmp[i] = (char)('0' + smtp_template_rand(rng) % 10);
				tmp[digits] = '\0';
				ins = tmp;
				break;
			}
			case 'T':
				for (int i = 0; i < 10; i++)
					tmp[i] = (char)('a' + smtp_template_rand(rng) % 26);
				tmp[10] = '\0';
				ins = tmp;
				break;
			case 'P':
				snprintf(tmp, sizeof tmp, "%u",
					 50 + (unsigned)(smtp_template_rand(rng) % 41));
				ins = tmp;
				break;
			}
		}
		if (ins) {
			size_t n = strlen(ins);
			if (n > cap - 1 - len)
				n = cap - 1 - len;
			memcpy(out + len, ins, n);
			len += n;
			p += 2;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
	return len;
}

size_t smtp_template_render(unsigned tpl, uint64_t *rng, char *out, size_t cap)
{
	if (!cap)
		return 0;
	return smtp_tpl_expand(smtp_tpl_body[tpl % SMTP_TEMPLATES], NULL, rng, out, cap, 0);
}

size_t smtp_template_message(unsigned tpl, uint64_t *rng, const char *rcpt_local,
			     const char *rcpt_domain, char *out, size_t cap)
{
	tpl %= SMTP_TEMPLATES;
	char subject[128];
	smtp_tpl_expand(smtp_tpl_subject[tpl], rcpt_local, rng, subject, sizeof subject, 0);
	uint64_t id = smtp_template_rand(rng);
	int n;
	/* Header orders differ per template, as they do between spam engines. */
	if (tpl % 2 == 0)
		n = snprintf(
			out, cap,
			"Received: from localhost by mail.example\r\n"
			"Message-ID: <%016llx@mail.example>\r\n"
			"From: \"Offers\" <offers@sender%u.example>\r\n"
			"To: <%s@%s>\r\nSubject: %s\r\n"
			"Date: Wed, 16 Mar 2011 14:45:00 +0000\r\n"
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n",
			(unsigned long long)id, tpl, rcpt_local, rcpt_domain, subject);
	else
		n = snprintf(out, cap,
			     "From: <notice@sender%u.example>\r\nTo: %s@%s\r\nSubject: %s\r\n"
			     "Date: Wed, 16 Mar 2011 14:45:00 +0000\r\n"
			     "Message-ID: <%016llx.%u@sender.example>\r\nMIME-Version: 1.0\r\n"
			     "Content-Type: text/plain\r\n",
			     tpl, rcpt_local, rcpt_domain, subject, (unsigned long long)id, tpl);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	size_t len = (size_t)n;
	if (smtp_tpl_mailer[tpl]) {
		n = snprintf(out + len, cap - len, "X-Mailer: %s\r\n", smtp_tpl_mailer[tpl]);
		if (n < 0 || (size_t)n >= cap - len)
			return 0;
		len += (size_t)n;
	}
	if (cap - len < 3)
		return 0;
	memcpy(out + len, "\r\n", 3);
	len += 2;
	len = smtp_tpl_expand(smtp_tpl_body[tpl], rcpt_local, rng, out, cap, len);
	return len + 1 < cap ? len : 0;
}
